"""The one way a folder goes up to the Hub: create the repo (model or Space) if needed, then `upload_folder`.

Used by training (--push_to_hub), `convert --push_to_hub` and `publish-space`. huggingface_hub's functions are
looked up when called, so a test can replace them on the `huggingface_hub` module.
"""

from __future__ import annotations

from pathlib import Path


def upload_model_folder(folder: str | Path, repo_id: str, *, private: bool = False, token: str | None = None,
                        commit_message: str, repo_type: str = "model", space_sdk: str | None = None,
                        branch: str | None = None, path_in_repo: str | None = None,
                        ignore_patterns: list[str] | None = None) -> str:
    """Upload `folder` to `repo_id` (created if absent; `branch` too); returns the commit's URL."""
    import huggingface_hub

    options = {"repo_type": repo_type} if repo_type != "model" else {}  # (the keyword only where it is not the default)
    repo = huggingface_hub.create_repo(repo_id, **options, **({"space_sdk": space_sdk} if space_sdk else {}),
                                       private=private, token=token, exist_ok=True)
    if branch:
        huggingface_hub.create_branch(repo.repo_id, branch=branch, token=token, exist_ok=True)
    commit = huggingface_hub.upload_folder(
        repo_id=repo.repo_id, **options, folder_path=str(folder), token=token, revision=branch, path_in_repo=path_in_repo,
        ignore_patterns=list(ignore_patterns) if ignore_patterns else None,  # (a copy: upload_folder appends to it)
        commit_message=commit_message)
    return getattr(commit, "commit_url", str(commit))
