"""Safe custody core: SafeTx hashing and signatures, the depositor's EIP-712 withdrawal request, the per-operation
signature policy, the policy co-signer and the web3 side (deploy, execute, idempotent proposal execution).

No Django models here: the vaults app stores proposals and calls into these modules.
"""
