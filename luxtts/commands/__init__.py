"""The built-in ``luxtts`` subcommands, one module each (HELP, configure(parser), run(args) -> exit code).

Light at import: argparse only. Heavy modules (torch, the pipeline) load inside ``run``.
"""
