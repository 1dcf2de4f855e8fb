"""EVM plumbing that vaults and strategies share: one web3 client per configured chain (:mod:`chains.rpc`),
address spelling (:mod:`chains.addresses`) and ERC-20 reads (:mod:`chains.erc20`). It imports no app; the Safe's
own transaction format and the platform's custody policy are :mod:`vaults.custody`'s."""
