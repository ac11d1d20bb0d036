"""The pipelines behind ``heliogen evaluate``, one module per subcommand.

Each reads its inputs from disk, runs the metrics of :mod:`heliogen.evaluate.metrics`,
and returns (and optionally writes) a ``heliogen-metrics/1`` document
(:mod:`heliogen.evaluate.schema`):

============= ============================== ============================================
module        command                        function
============= ============================== ============================================
distribution  ``heliogen evaluate``          :func:`.distribution.evaluate_distribution`
pairs         ``heliogen evaluate pairs``    :func:`.pairs.evaluate_pairs`
uncertainty   ``heliogen evaluate            :func:`.uncertainty.evaluate_uncertainty`
              uncertainty``
classify      ``heliogen evaluate classify`` :func:`.classify.evaluate_classifier`
rank          ``heliogen evaluate rank``     :func:`.rank.evaluate_rank`
human         ``heliogen evaluate human``    :func:`.human.evaluate_human`
============= ============================== ============================================
"""
