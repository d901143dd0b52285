"""Remote diagnosis over SSH (paramiko): host-key verification, connections through bastion
chains, and running playbooks across many hosts at once. The playbook logic itself is pure
and lives in collector/core/playbook; this package only carries bytes to and from hosts.
"""
