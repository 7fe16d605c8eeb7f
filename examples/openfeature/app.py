"""OpenFeature's API, answered by Vexil: a few flags of ``examples/flags.yaml``, evaluated.

Run it from anywhere (it needs ``pip install 'vexil[openfeature]'``)::

    python examples/openfeature/app.py

With ``VEXIL_SDK_KEY`` set (and ``VEXIL_URL``, if the server is not on
http://127.0.0.1:8800), the flags come from that server instead of the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.track import TrackingEventDetails

from vexil import Offline
from vexil.integrations.openfeature import VexilProvider

FLAGS = Path(__file__).resolve().parent.parent / "flags.yaml"


def make_provider() -> VexilProvider:
    if os.environ.get("VEXIL_SDK_KEY"):
        return VexilProvider()  # the key and URL come from VEXIL_SDK_KEY and VEXIL_URL
    return VexilProvider(mode=Offline(path=str(FLAGS)))


def changed(event: EventDetails) -> None:
    print(f"changed: {event.flags_changed}")


def main() -> None:
    api.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, changed)
    api.set_provider_and_wait(make_provider())  # waits for the flags
    flags = api.get_client()

    ana = EvaluationContext("u-1", {"email": "ana@vexil.dev"})  # the targeting key is Vexil's key
    bob = EvaluationContext("u-2", {"platform": "ios", "app_version": "4.3.0"})

    checkout = flags.get_boolean_details("new-checkout", False, ana)
    print(f"new-checkout for ana: {checkout.value} ({checkout.reason}, {checkout.flag_metadata})")

    color = flags.get_string_details("checkout-button-color", "#1f6feb", ana)
    print(f"checkout-button-color for ana: {color.value} (variant {color.variant}, {color.reason})")

    per_page = flags.get_integer_details("search-results-per-page", 20, bob)
    print(f"search-results-per-page for bob: {per_page.value} ({per_page.reason})")

    maintenance = flags.get_boolean_details("maintenance-mode", False, bob)
    print(f"maintenance-mode: {maintenance.value} ({maintenance.reason})")

    wrong = flags.get_integer_details("new-checkout", 0, ana)
    print(f"new-checkout as an integer: {wrong.value} ({wrong.error_code})")

    # Forwarded to Vexil's client.track(name, context, value=..., data=...).
    details = TrackingEventDetails(value=42.0, attributes={"items": 3})
    flags.track("checkout-completed", ana, details)

    api.shutdown()  # shuts the provider down, which closes the client it created


if __name__ == "__main__":
    main()
