/**
 * The defaults the commands name in their --help and use when neither a flag, the environment nor
 * the manifest says otherwise. Kept apart from the services that use them, so that printing help
 * or a version loads no service.
 */
import path from 'node:path';

/** --manifest */
export const DEFAULT_MANIFEST = path.join('manifests', 'models.yaml');
/** init: the host folder, the folder in the containers, the override's file name */
export const DEFAULT_HOST_DIR = 'models';
export const DEFAULT_CONTAINER_DIR = '/models';
export const DEFAULT_OVERRIDE_NAME = 'compose.models.yaml';
/** the files `docker compose` reads without -f, in its order (lib/compose/default-files.ts): the first base file found… */
export const COMPOSE_DEFAULT_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml'];
/** …and the first of these next to it, whatever the base file is called */
export const COMPOSE_AUTO_OVERRIDES = ['compose.override.yml', 'compose.override.yaml', 'docker-compose.override.yml', 'docker-compose.override.yaml'];
/** swarm provision / k8s render: the modelmount image every node has */
export const DEFAULT_IMAGE = 'modelmount:local';
