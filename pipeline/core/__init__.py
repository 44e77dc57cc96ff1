"""The project's core: records and schemas, run-folder I/O on any fsspec URL, one stats type, the unit
executor (the only Ray code) and the config. It imports nothing else of the project; every stage
package builds on it."""
