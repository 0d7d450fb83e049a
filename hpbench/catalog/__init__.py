"""What a study file may say, described from the sources the parser itself reads (the key tables
of :mod:`hpbench.study.keys` and the registries): the registries and their plugins
(:mod:`~hpbench.catalog.registries`), the JSON Schema of study files
(:mod:`~hpbench.catalog.json_schema`, ``hpbench schema``) and the study reference
(:mod:`~hpbench.catalog.markdown`, ``docs/study-reference.md``).
"""
