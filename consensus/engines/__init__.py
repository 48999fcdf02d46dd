"""Where EM statistics are computed: in memory (the models' own loop, the default) or on
a Dask cluster (:mod:`consensus.engines.dask`, with ``pip install "consensus[dask]"``).

The out-of-core engine is split by what runs where: :mod:`.partitions` reads, cleans and
encodes votes partition by partition and :mod:`.statistics` is the per-partition
arithmetic of EM (both run on workers and import no Dask); :mod:`.dask` drives them from
the client through :mod:`.cluster` (client, passes, tree reductions), :mod:`.first_pass`
agrees codes and encodes the votes once, :mod:`.selection`
makes ``auto``'s choice on the in-memory engine's subsample, and :mod:`.results` holds
what comes back.
"""
