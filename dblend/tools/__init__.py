"""Commands for people rather than rules (inspecting files, converting data).

Same shape as :mod:`dblend.stages`: one module per command, ``add_arguments`` and one function
named like the module.
"""
