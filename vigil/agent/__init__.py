"""L2: the in-process monitoring agent (numpy and the standard library only).

::

    from vigil.agent import MonitoringAgent

    agent = MonitoringAgent(frequency=5, max_buffer_size=500, n_classes=10, agent_id='1',
                            server_IP='127.0.0.1', server_port=8000)
    agent.run_local_server()                      # reuse or start a collector on localhost:8000
    agent.collect_data(predict_proba_matrix=P,    # batch x n_classes, mandatory
                       input_matrix=X,            # batch x n_features, optional
                       label_matrix=Y)            # one-hot or int labels, optional
    agent.close()                                 # closes and delivers the last window

``server_IP=None`` (or ``sink='store'``) writes windows straight to the
tracking store; ``sink=callable`` hands them to a function. Modules:
:mod:`~vigil.agent.agent` (the class), :mod:`~vigil.agent.validation` (drop
reasons), :mod:`~vigil.agent.window` (metric definitions, exact vs sampled),
:mod:`~vigil.agent.features`, :mod:`~vigil.agent.reservoir`,
:mod:`~vigil.agent.spool`, :mod:`~vigil.agent.shipper`,
:mod:`~vigil.agent.storage`, :mod:`~vigil.agent.wire` (the wire format),
:mod:`~vigil.agent.testing` (a stub collector for tests).
"""

from vigil.agent.agent import MonitoringAgent
from vigil.agent.storage import window_to_events

__all__ = ["MonitoringAgent", "window_to_events"]
