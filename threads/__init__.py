"""Archive domain: models, threading, storage and search; knows nothing of SMTP or HTTP."""
