from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class HftPlatformConfig(AppConfig):
    default = True
    name = "hftplatform"
    verbose_name = "Platform"


class HftPlatformAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "hftplatform.admin_site.PlatformAdminSite"
