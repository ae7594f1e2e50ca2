"""The data engine: sources, specialists, filters, merge and writers that build the training corpus."""
