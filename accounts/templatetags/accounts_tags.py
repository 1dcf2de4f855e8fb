from django import template

from accounts.forms import chain_name as chain_name_for

register = template.Library()


@register.filter
def chain_name(chain_id: int) -> str:
    return chain_name_for(chain_id)
