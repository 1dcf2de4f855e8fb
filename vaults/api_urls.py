from django.urls import path

from vaults import api

urlpatterns = [
    path("vaults/", api.VaultListApi.as_view(), name="vaults-list"),
    path("vaults/me/holdings/", api.MyHoldingsApi.as_view(), name="vaults-my-holdings"),
    path("vaults/me/deposits/", api.MyDepositsApi.as_view(), name="vaults-my-deposits"),
    path("vaults/me/withdrawals/", api.MyWithdrawalsApi.as_view(), name="vaults-my-withdrawals"),
    path("vaults/<slug:slug>/", api.VaultDetailApi.as_view(), name="vaults-detail"),
    path("vaults/<slug:slug>/statement/", api.MyStatementApi.as_view(), name="vaults-my-statement"),
    path("vaults/<slug:slug>/deposits/", api.DepositCreateApi.as_view(), name="vaults-deposit-create"),
    path("vaults/<slug:slug>/withdrawals/", api.WithdrawalCreateApi.as_view(), name="vaults-withdrawal-create"),
]
