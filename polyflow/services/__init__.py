"""Services: the only code that writes. Plain, transactional functions that the
API views, the CLI, the Celery tasks and the scheduler call."""
