"""The pipeline's stages: one module per Snakemake rule, named like the rule.

Each module declares its command-line arguments (``add_arguments``) next to the one function
that does the stage's work, named like the module and called by keyword with those arguments.
``dblend <stage>`` runs it, so a rule's shell line, its subcommand and its code share one name.
"""
