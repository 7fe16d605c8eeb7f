"""A small Django site for the Django integration's tests (see ``test_django.py``)."""
