<?php
// See autoload.php: Symfony\Component\Routing\Attribute\Route (6.2+) on 5.4.

namespace Symfony\Component\Routing\Attribute;

#[\Attribute(\Attribute::IS_REPEATABLE | \Attribute::TARGET_CLASS | \Attribute::TARGET_METHOD)]
class Route extends \Symfony\Component\Routing\Annotation\Route
{
}
