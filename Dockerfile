# One image for every node of an MRA Ledger network (see docker-compose.yml).
# BASE_IMAGE: any Debian-like image with Python 3.11+ and its venv module; where Docker Hub
# cannot be reached, scripts/base-image makes one from Debian's packages.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# Optional, for sites whose package index is a mirror, or whose outbound TLS goes through an
# intercepting proxy: PIP_INDEX_URL (and PIP_TRUSTED_HOST) as build arguments, and a CA bundle
# that holds the proxy's CA at build/ca-certificates.crt in the build context. pip uses it, then
# it is deleted; it stays in the COPY layer below (public certificates only).
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1

LABEL org.opencontainers.image.title=mra-ledger
RUN useradd --create-home --uid 10001 mra
WORKDIR /app

# Dependencies first (their layer is reused while the lock is unchanged): exact versions, every
# file's hash checked; setuptools comes from the lock too, so nothing unpinned is fetched.
COPY requirements/runtime.lock build/ca-certificates.cr[t] /tmp/build/
RUN python3 -m venv /opt/mra \
 && if [ -f /tmp/build/ca-certificates.crt ]; then \
      export PIP_CERT=/tmp/build/ca-certificates.crt; fi \
 && /opt/mra/bin/pip install --quiet --require-hashes -r /tmp/build/runtime.lock \
 && rm -rf /tmp/build

COPY pyproject.toml README.md ./
COPY node ./node
COPY contracts ./contracts
COPY network ./network
RUN /opt/mra/bin/pip install --quiet --no-deps --no-build-isolation . && rm -rf build *.egg-info
ENV PATH=/opt/mra/bin:$PATH

# Named volumes take the ownership of these directories, so the nodes can write to them;
# /ca is where a legacy network's CA key is mounted by hand (the Compose network has no CA).
RUN mkdir -p /net/BR /net/UY /net/AR /net/PY /net/CL /ca && chown -R mra /net /ca
USER mra
EXPOSE 7441
ENTRYPOINT ["mra"]
CMD ["--help"]
