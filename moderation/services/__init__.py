"""Use cases of the moderation wing: policy, review, appeals, blocks, privilege, reports,
the audit log's search and export."""
