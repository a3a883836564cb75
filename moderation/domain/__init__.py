"""Pure rules of the moderation wing (no I/O, no clock reads): the policy, its checks, screening."""
