from django.urls import path

from accounts import api

urlpatterns = [
    path("me/", api.MeApi.as_view(), name="me"),
    path("wallets/", api.WalletsApi.as_view(), name="wallets"),
    path("wallets/nonce/", api.WalletNonceApi.as_view(), name="wallet-nonce"),
    path("wallets/<int:wallet_id>/", api.WalletDetailApi.as_view(), name="wallet-detail"),
    path("tokens/", api.ApiTokensApi.as_view(), name="tokens"),
    path("tokens/<int:token_id>/", api.ApiTokenDetailApi.as_view(), name="token-detail"),
]
