"""The stages every command shares, in the order data flows: `prepare` (every check and the data,
before any run directory), `build` (train, export, goldens), `measure` (plan and run the cells),
`finish` (tables, manifest, history). Commands (twinbench/commands/) compose them."""
