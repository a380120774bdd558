"""Google Cloud Functions (gen2) adapter: functions-framework targets over the core handlers."""
