# pragma version 0.4.3
# pragma evm-version shanghai
"""
@title SafeGuardInstaller
@notice Installs a transaction guard while a Safe v1.4.1 is being set up, so the Safe is guarded from its first
        block and no transaction (which would need the very owners the guard restrains) installs it.
@dev The Safe's `setup(...)` DELEGATECALLs `guard_install(guard)` here: the code runs as the new Safe, so `self` is
     the Safe, and the Safe's own `setGuard` (which only the Safe may call, and which checks the guard's ERC-165
     interface) is called by the Safe itself. Called directly, `self` is this contract, which has no `setGuard`, and
     the call reverts. Stateless: one deployment serves every Safe of a chain.
"""

interface IGuardManager:
    def setGuard(guard: address): nonpayable


@external
def guard_install(guard: address):
    assert guard != empty(address), "no guard"
    extcall IGuardManager(self).setGuard(guard)
