"""lichen devnet demo: the main flows, step by step, against a running devnet (devnet.demo)."""
from __future__ import annotations

import click

from devnet.demo import Demo, StepOutcome, loan_accept_steps, loan_repay_step
from devnet.network import Devnet

from .common import console
from .devnet import dir_option, print_status

TRY_NEXT = """
[bold]Try next[/] (after `source .venv/bin/activate`)
  lichen account show carol
  lichen tx transfer --key bob --to alice --asset EUR --amount 2500
  lichen kyc revoke --key inst2 --subject carol    # carol: KYC_REVOKED
  lichen account freeze bob --key regulator        # bob: FROZEN
  lichen policy block-jurisdiction DE              # bob (DE): JURISDICTION_BLOCKED
  lichen policy show
  lichen asset show USD                            # supply, reserves, coverage
  lichen report exposure                           # per issuer: supply against reserves
  lichen fx book USD/SGD                           # open offers, best rate first
  lichen fx offer --key bob --give 10000 EUR --want 11000 USD --expires-in 15m
  lichen escrow create --key alice --to bob --asset USD --amount 2500 --cancel-in 1h
  lichen block show latest
  lichen devnet kill node0; lichen devnet status   # a new leader
  lichen devnet start node0                        # it catches up
  lichen devnet partition node2; lichen devnet heal
  lichen bench --duration 10 --rate 1000
  lichen devnet down"""


def print_outcome(o: StepOutcome) -> None:
    if o.status == "committed":
        console.print(f"  [green]✔ committed[/] at height {o.height}  (tx {o.hash[:16]}…)")
    else:
        console.print(f"  [red]✘ {o.code}[/]: {o.message}", highlight=False)


@click.command("demo")
@dir_option
def demo(dir_) -> None:
    """Walk through KYC-gated, cross-border payments on the devnet in --dir."""
    run = Demo(Devnet(dir_))
    console.rule("lichen demo")
    console.print(f"talking to {run.manifest.nodes[0].name} at {run.client.url}"
                  f"{' (TLS, verified against the devnet CA)' if run.net.tls() else ''}",
                  highlight=False)
    console.print("alice (US, tier 1, attested by inst0 · Harbor Bank) holds USD, EUR and SGD.\n"
                  "carol has no KYC attestation yet. "
                  "EUR is issued by inst1 (Rhein Clearing AG, DE).")
    for step in run.steps():
        console.print(f"\n[bold]▸ {step.title}[/]")
        outcome = run.run_step(step)
        print_outcome(outcome)
        if outcome.surprise:
            raise click.ClickException(outcome.surprise)
    loan_id = loan_demo(run)
    summary = run.summary()
    kyc = summary.carol["kyc"]
    console.print(f"\ncarol now holds {summary.carol['balances']} and her KYC standing is "
                  f"{'valid' if kyc['valid'] else kyc['error']}.\n")
    print_status(summary.nodes)
    console.print(TRY_NEXT, highlight=False)
    console.print(LOAN_TRY_NEXT.format(loan=loan_id), highlight=False)
    print_dashboard(run.net, run.manifest.nodes[0].url)


def print_dashboard(net: Devnet, url: str) -> None:
    """Where to watch it live: node0's dashboard (every node serves one)."""
    console.print(f"\n[bold]Dashboard[/] (live, every node serves one): {url}/dashboard",
                  highlight=False)
    if net.tls():
        console.print(f"  the devnet's certificates are signed by its own CA, {net.ca_file}:"
                      " import it in the browser, or accept the warning", highlight=False)


# ---- a microfinance loan collected on schedule ------------------------------------------------

LOAN_TRY_NEXT = """  lichen loan show {loan}   # the loan: 1 of 2 paid
  lichen loan history alice                        # her credit record, for any lender
  lichen loan list --status current"""


def run_steps(run: Demo, steps) -> list[StepOutcome]:
    outcomes = []
    for step in steps:
        console.print(f"\n[bold]▸ {step.title}[/]")
        outcome = run.run_step(step)
        print_outcome(outcome)
        if outcome.surprise:
            raise click.ClickException(outcome.surprise)
        outcomes.append(outcome)
    return outcomes


def cents(units: int) -> str:
    """Minor units of a 2-decimal asset, exactly (no floats for money)."""
    return f"{units // 100:,}.{units % 100:02d}"


def loan_demo(run: Demo) -> str:
    """A loan offered, accepted, its first instalment collected on schedule with no tx, a
    repayment early. Returns the loan id."""
    offered = run_steps(run, run.loan_offer_steps())[-1]
    loan_id = bytes.fromhex(offered.hash)
    run_steps(run, loan_accept_steps(loan_id))
    console.print("\n[bold]▸ wait: the first instalment falls due, and the first block past its "
                  "due time collects it (no transaction)[/]")
    doc = run.wait_for_collection(loan_id)
    height = run.client.status()["height"]
    console.print(f"  [green]✔ collected[/] 275.00 GBP from alice for inst3 (by height {height}): "
                  f"loan {doc['status']}, repaid {cents(doc['repaid'])} of "
                  f"{cents(doc['total'])} GBP", highlight=False)
    run_steps(run, [loan_repay_step(loan_id)])
    credit = run.credit("alice")
    console.print(f"  alice's credit record (any lender reads it): {credit['loans']} loan, "
                  f"{credit['late']} instalments missed, {credit['defaulted']} defaults "
                  "(an instalment counts on time once its grace has passed)", highlight=False)
    return loan_id.hex()
