"""Session lifecycle: reconcile handlers (one per module) and the controller that runs them on
an event hint and on a periodic sweep, so a lost event never leaves a session hanging."""
