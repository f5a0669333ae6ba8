"""Services: the use cases on top of the store (import, export, demo, inspection, training
data). Nothing in core.store or in the values of core/ imports them (ADR 0025)."""
