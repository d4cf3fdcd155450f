"""Cryptographic building blocks of the keep: HPKE keys and sealing (`hpke`), tenant key files
(`keyfile`) and the report_data binding (`binding`). Every primitive comes from pyca
`cryptography`; this package only fixes formats and labels."""
