"""The phases of a matrix run around its cells, one module each; each is given the run (the
MatrixRun of matrix/run.py: its plan, options, folder, environments and probe) and, where it runs
probes, the run's pool of workers:

  adopt.py          a fan-out's runtime job takes the export jobs' records and bundles (--bundles-from)
  advice_check.py   each too-new model's advised opset, exported and checked, where the run has no result there
  remedy_search.py  failing results the runtime sides left unfixed, searched again in each cell's whole environment
"""
