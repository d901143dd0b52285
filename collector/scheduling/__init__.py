"""Scheduled work: APScheduler inside the collector, led by one collector at a time.

- ``scheduler``: APScheduler with its jobs in the collector's database, dispatched at the
  times an injected clock gives (so tests move time by hand, and missed runs are judged
  against the same clock the jobs use);
- ``leader``: which collector runs the scheduler (a PostgreSQL advisory lock);
- ``definitions``: the jobs the configuration asks for (housekeeping, each customer's
  inspection, service report and contract reminders);
- ``jobs``: the module-level job functions the job store names, and the registry through
  which they find the running collector's context.
"""
