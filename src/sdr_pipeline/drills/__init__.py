"""Fault drills: a fault against a real stack, and a verdict on the promises (nothing lost, nothing twice,
bad input refused with a reason).

`catalogue` names the drills, `stack` starts or finds the stack they run on, `checker` reads the topics
and the mailbox and judges; `copies`, `poison`, `inputs` and `crashes` are the families of faults, and
`standin_model` the fast model a scratch stack runs on. Nothing is imported here, so the stand-in model's
process (`uvicorn sdr_pipeline.drills.standin_model:app`) starts without loading the whole stack.
"""

__all__ = ["catalogue", "checker", "copies", "crashes", "inputs", "poison", "stack", "standin_model"]
