"""The store: the one owner of a project's database (tables, engine, migrations, the edit
transaction, the Project facade). Imports the values of core/, never core.services (ADR 0025)."""
