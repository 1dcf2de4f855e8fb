"""Safe custody, an app of its own (:class:`~vaults.custody.apps.CustodyConfig`) above the vault ledger.

The pure core: SafeTx hashing and signatures, the depositor's EIP-712 withdrawal request and destination
registration, the per-operation signature policy, the policy co-signer and the web3 side (deploy, execute,
idempotent proposal execution, the deposit scan). Above it the custody services, selectors, API, pages, admin,
tasks and the ``safe`` command.

Its models are the vaults app's (:mod:`vaults.models.custody`). It uses the vault ledger (models, services,
selectors, row locks); nothing in ``vaults`` outside this package uses it.
"""
