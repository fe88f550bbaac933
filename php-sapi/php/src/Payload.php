<?php

declare(strict_types=1);

namespace RustRunner\Worker;

/**
 * One message between server and worker: a context (header) and a body
 * (aliased as Spiral\RoadRunner\Payload).
 */
class Payload
{
    public readonly string $body;

    public readonly string $header;

    /**
     * @param bool $eos false when more parts of the same response follow
     */
    public function __construct(
        ?string $body,
        ?string $header = null,
        public readonly bool $eos = true,
    ) {
        $this->body = $body ?? '';
        $this->header = $header ?? '';
    }
}
