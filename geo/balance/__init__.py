"""The grid-balancing engine (pure: no database).

Divides each community's buildings into contiguous grids of ``min``–``max`` households (default
300–500, target 400) whose polygons tile the community, keeps compounds (小区) whole where it can,
splits towers above the maximum by stairwell units, numbers grids west→east, north→south and keeps
codes stable in a re-balance.

Public API::

    propose(buildings, community, existing=None, params=BalanceParams(), compounds=None,
            dedicated=None, issued_codes=None, *, community_code=None) -> Proposal
    propose_many(buildings, communities, ..., jobs=1, progress=None) -> dict[str, Proposal]
    balance_file(buildings_path, communities_path, out_path, ...) -> dict[str, Proposal]
"""

from geo.balance.files import balance_file
from geo.balance.proposal import BalanceParams, Proposal, propose, propose_many

__all__ = ["BalanceParams", "Proposal", "balance_file", "propose", "propose_many"]
