"""The snapshot store: the only thing `api/` and `consumer/` share.

`writer` (consumer side, under `lock`), `reader` (API side), `codec` (file
names and bytes, pure), `model` (values), `errors` (the closed error tree).
"""
