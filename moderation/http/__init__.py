"""HTTP routes of the moderation wing: the console's policy, review, cases, audit, reports."""
