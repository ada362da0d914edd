# One image for every node of an MRA Ledger network (see docker-compose.yml).
FROM python:3.11-slim

RUN useradd --create-home --uid 10001 mra
WORKDIR /app
COPY pyproject.toml README.md ./
COPY node ./node
COPY contracts ./contracts
COPY network ./network
RUN pip install --no-cache-dir .

# Named volumes take the ownership of these directories, so the nodes can write to them.
RUN mkdir -p /net/BR /net/UY /net/AR /net/PY /net/CL && chown -R mra /net
USER mra
EXPOSE 7441
ENTRYPOINT ["mra"]
CMD ["--help"]
