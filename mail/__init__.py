"""Everything that speaks e-mail: parsing, cleaning, classification, and the protocol adapters."""
