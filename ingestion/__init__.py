"""Landing -> raw: discover and archive landed files, read and normalise them, record them in the ledger and
load the accepted rows."""
