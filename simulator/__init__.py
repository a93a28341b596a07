"""Synthetic source systems for the risk lakehouse.

    from simulator import generate_world
    summary = generate_world("data/landing", "data/truth", customers=20_000, seed=42)

A latent truth per customer (creditworthiness, income, fraud ring, intent to divert funds)
drives every landing table; the truth itself is written to a separate folder.
"""
from .world import MCC, PROHIBITED_MCC, Params, generate_world

__all__ = ["generate_world", "Params", "MCC", "PROHIBITED_MCC", "inject_mess"]


def inject_mess(landing_dir, kinds, seed=0):
    from .mess import inject_mess as _inject

    return _inject(landing_dir, kinds, seed)
