"""Built-in twins, one file each: every module in this folder whose name does not start with "_"
registers its twins when imported, and the twin registry (models/registry.py `TWINS`) imports them
all on first use. Adding a twin is adding a file."""
