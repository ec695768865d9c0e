"""Background jobs: the JobRun record, the tenant-scoped task base and the fan-out."""
