"""What one node keeps on its machine besides the ledger: settings, home, key files, API keys,
the access-log writer, webhooks, the restore guard and the scrubber."""
