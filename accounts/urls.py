from django.urls import path

from accounts import views

urlpatterns = [
    path("", views.account_settings, name="account_settings"),
    path("wallets/nonce/", views.wallet_nonce, name="account_wallet_nonce"),
    path("wallets/link/", views.wallet_link, name="account_wallet_link"),
    path("wallets/<int:wallet_id>/unlink/", views.wallet_unlink, name="account_wallet_unlink"),
    path("tokens/", views.api_token_create, name="account_token_create"),
    path("tokens/<int:token_id>/revoke/", views.api_token_revoke, name="account_token_revoke"),
]
