"""Recorded devices: published latency tables answered as targets, with their data.

- :mod:`.tables`: the shipped tables (NB201, FBNet, OFA, the Note10 lookup
  table, OFA's accuracy predictor) and their cached loaders;
- :mod:`.models`: the recorded targets (``nb201/<device>``, ``fbnet/<device>``,
  ``ofa/<device>``, ``ofa/note10``), :class:`~hwnas.latency.LatencyModel` s;
- :mod:`.predictor`: the architecture-level XGBoost predictor for these spaces;
- :mod:`.accuracy`: the NB201 table and OFA predictor accuracy sources;
- :mod:`.commands`: ``hwnas recorded``, ``hwnas data``, ``hwnas predict recorded``;
- :mod:`.plugin`: the hook implementations that declare all of the above.
"""
