from django.urls import path

from vaults import views

urlpatterns = [
    path("", views.vault_list, name="vaults"),
    path("mine/", views.my_holdings, name="vaults_my_holdings"),
    path("<slug:slug>/", views.vault_detail, name="vault_detail"),
]
