"""`medclaim ledger …` and `medclaim reverse`: the persistent monthly ledger (registered on the main app)."""
